"""The telephone menu over Async AGI: the menu as a pure state machine (menu, options, dialog, effects,
agi), its driver over AMI, the call port onto the mailbox services, PIN storage and the staging folder."""
