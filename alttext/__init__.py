"""alttext: find images without alt text in HTML and Markdown, and describe them."""

__version__ = "0.1.0"
