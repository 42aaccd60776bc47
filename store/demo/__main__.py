"""`python -m store.demo`: the demo data's command line, on the store given by
`--database-url` (`python -m web.demo` defaults to the settings' store)."""

from store.demo.writer import main

main()
