# Roles for this host: a DevStack node and its database (the all-in-one database node); the
# broker and monitoring roles join here as they land.
base:
  '*':
    - devstack
    - database
    - broker
    - monitoring
