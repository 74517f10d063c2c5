# This node's roles, and its address published to the Salt mine so that other nodes find it
# (a DevStack node's DATABASE_HOST and RABBIT_HOST come from there). On one host: all-in-one.
roles: [all-in-one]
mine_functions:
  node_address:
    mine_function: topology.address
