# A decoupled cloud through a salt-master (the Vagrantfile's multi-machine layout):
#   bin/cluster master pillar/examples/multi-node DIR/master ADDRESS
# This top.sls comes first in the master's pillar roots; the role files (database.sls,
# broker.sls, monitoring.sls, devstack.sls, node.sls) come from the project's pillar/, and the
# passwords from the master's generated .salt/pillar/secrets.sls, and the operator's own settings
# for the whole cloud from the master's .salt/pillar/site.sls (last: it wins; e.g. DevStack from a
# local mirror). Minions are named by role.
base:
  '*':
    - node                  # mine_functions: every node publishes its address
    - monitoring            # a collectd agent everywhere
    - secrets
    - roles.agent           # carbon only where a role file turns it on; agents find it in the mine
  'db*':
    - database
    - roles.database
  'mq*':
    - broker
    - roles.broker
  'devstack*':
    - devstack
    - database              # DATABASE_* credentials come from here (one place)
    - broker                # RABBIT_* credentials likewise
    - roles.devstack
  '.*':                     # every minion again (a second '*' key would replace the first), last:
    - match: pcre
    - site                  # the master's .salt/pillar/site.sls, the operator's own, wins
