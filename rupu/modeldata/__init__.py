"""What rupu ships about models: the baked-in lists (`data/`, generated from `source/models.yaml`) and
the file formats of those lists and of the live cache. A leaf: providers read it (which models reason)
and so does the model catalog above them (`rupu.catalog`)."""
