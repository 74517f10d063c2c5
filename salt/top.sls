# Roles for this host. Every host is a DevStack node for now; the database, broker and
# monitoring roles join here as they land.
base:
  '*':
    - devstack
