"""The screens of the field UI, one module per area; names are listed in ``ui.app.SCREENS``."""
