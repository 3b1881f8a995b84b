"""The report's renderers: Markdown, self-contained HTML, the console, and the plots."""
