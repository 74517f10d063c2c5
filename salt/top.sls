# Roles to states. A node's roles come from pillar (roles: [...]); all-in-one carries every
# role (the targets: salt/roles.jinja, the same rule as devstack_salt.roles). The same top serves
# masterless runs (bin/setup) and highstates from a master, and the order (database, broker,
# monitoring, devstack) is the order a node's roles come up in. Every node carries monitoring's
# agent.
{%- from 'roles.jinja' import target %}
base:
  '{{ target('database') }}':
    - match: compound
    - database
  '{{ target('broker') }}':
    - match: compound
    - broker
  '*':
    - monitoring
  '{{ target('devstack') }}':
    - match: compound
    - devstack
