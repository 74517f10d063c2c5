# The gate: every database state requires this one, so an invalid pillar (each error named by
# its pillar path) changes nothing.
database-pillar:
  database_server.valid:
    - pillar_key: database
