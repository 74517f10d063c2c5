# Roles to states. A node's roles come from pillar (roles: [...]); all-in-one carries every
# role. The same top serves masterless runs (bin/setup) and highstates from a master, and the
# order (database, broker, monitoring, devstack) is the order a node's roles come up in.
base:
  'I@roles:database or I@roles:all-in-one':
    - match: compound
    - database
  'I@roles:broker or I@roles:all-in-one':
    - match: compound
    - broker
  '*':
    - monitoring
  'I@roles:devstack or I@roles:all-in-one':
    - match: compound
    - devstack
