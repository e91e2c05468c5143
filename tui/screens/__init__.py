"""Modal dialogs and full screens pushed over the main screen."""
