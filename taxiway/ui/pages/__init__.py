"""The dashboard's pages, one module each: routes that read the store and render a template."""
