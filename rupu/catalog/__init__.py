"""The model catalog: which models each provider has (custom config entries > the live cache written by
`rupu models refresh` > the baked-in lists shipped with rupu), what they cost, and what a run's usage
cost."""
