# Bring a decoupled cloud up in order: database nodes, broker nodes, monitoring on every node,
# then the DevStack nodes, whose local.conf points at the others through the mine. The first
# failure stops the run (failhard; later steps require the earlier ones) and the report names
# the step and the minion.
#   salt-run state.orchestrate orch.deploy
# The targets come from salt/roles.jinja: the master's runner renders this file without this
# project's execution modules (topology.target), so it imports the same rule as top.sls.
{%- from 'roles.jinja' import target %}
publish-addresses:
  salt.function:
    - name: mine.update
    - tgt: '*'

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
