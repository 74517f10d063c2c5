# The database role: MariaDB from the distribution, configured, running and secured, with the
# databases, users and grants of the database pillar (see README.md, "Database role").
# server.sls comes first: with no requisite between the two files, Salt runs them in this order.
include:
  - database.server
  - database.accounts
