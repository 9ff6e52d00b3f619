"""Client notifications: the client-area inbox, e-mail and Telegram (see ``services`` for the design)."""
