"""Every subcommand of ``hypnagogia`` and its argument helpers; ``app.commands.main`` assembles them."""
