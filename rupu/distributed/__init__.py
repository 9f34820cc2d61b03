"""Running a workflow's units elsewhere: the Ray executor (`rupu workflow run --executor ray`).

The driver (the `rupu` process) plans, holds the limits and the credentials, and writes every
record; Ray actors on the cluster's nodes run the units and send their events back. Ray is an
optional dependency (`pip install 'rupu[ray]'`), imported only when this executor is used.
"""
