# Secured as mysql_secure_installation would, then databases, users and grants from pillar.
# Applied alone (state.apply database.accounts) it never starts the server: with the server
# down it fails, naming the socket, and changes nothing.
include:
  - database.pillar

database-secured:
  database_server.secured:
    - pillar_key: database
    - require:
      - database_server: database-pillar

database-databases:
  database_server.databases:
    - pillar_key: database
    - require:
      - database_server: database-secured

database-users:
  database_server.users:
    - pillar_key: database
    - require:
      - database_server: database-databases
