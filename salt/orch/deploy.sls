# Bring a decoupled cloud up in order: this project's modules synced to every minion, their
# addresses published to the mine, then database nodes, broker nodes, monitoring on every node,
# then the DevStack nodes, whose local.conf points at the others through the mine. The first
# failure stops the run (failhard; later steps require the earlier ones) and the report names
# the step and the minion.
#   salt-run state.orchestrate orch.deploy
# The targets come from salt/roles.jinja: the master's runner renders this file without this
# project's execution modules (topology.target), so it imports the same rule as top.sls.
{%- from 'roles.jinja' import target %}
# This project's modules, states, beacon and returner on every minion first: state.sls (unlike a
# highstate) does not sync them, and the mine function below is one of them (topology.address).
sync-modules:
  salt.function:
    - name: saltutil.sync_all
    - tgt: '*'

publish-addresses:
  salt.function:
    - name: mine.update
    - tgt: '*'
    - require:
      - salt: sync-modules

{%- set steps = [('database', target('database')),
                 ('broker', target('broker')),
                 ('monitoring', '*'),
                 ('devstack', target('devstack'))] %}
{%- for role, tgt in steps %}

{{ role }}-nodes:
  salt.state:
    - tgt: '{{ tgt }}'
    - tgt_type: compound
    - sls: {{ role }}
    - failhard: True
    - require:
      - salt: {{ 'publish-addresses' if loop.first else steps[loop.index0 - 1][0] ~ '-nodes' }}
{%- endfor %}

# Last, the dashboards again on the carbon servers: they show every node carbon holds metrics of,
# and the nodes' agents started in the monitoring step, after the carbon server had saved them.
# Now the whole cloud reports: a second run of this orchestration changes nothing.
dashboards:
  salt.state:
    - tgt: 'I@monitoring:carbon:server:True'
    - tgt_type: compound
    - sls: monitoring.web
    - expect_minions: False   # a cloud whose carbon is elsewhere (no carbon server of its own)
    - failhard: True
    - require:
      - salt: devstack-nodes
