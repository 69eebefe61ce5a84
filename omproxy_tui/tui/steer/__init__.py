"""Steering UI: the actions (controller), dialogs, the JSON editor and the compose screen."""
