class UserError(Exception):
    """Something the user can fix. The message is one line: what was wrong and what to do."""
