"""The command line: `entry.main` dispatches to one module per subcommand in `commands/`; the console
tables, the live ramp view and the preflight check are its edges."""
