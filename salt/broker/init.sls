# The broker role: RabbitMQ from the distribution, listening on broker:address and broker:port,
# running, and holding exactly the virtual hosts, users, permissions, policies and plugins of
# the broker pillar (see README.md, "Broker role").
include:
  - broker.server
  - broker.definition
