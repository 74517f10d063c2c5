# Bring a decoupled cloud up in order: database nodes, broker nodes, monitoring on every node,
# then the DevStack nodes, whose local.conf points at the others through the mine. The first
# failure stops the run (failhard; later steps require the earlier ones) and the report names
# the step and the minion.
#   salt-run state.orchestrate orch.deploy
publish-addresses:
  salt.function:
    - name: mine.update
    - tgt: '*'

{%- set steps = [('database', 'I@roles:database or I@roles:all-in-one'),
                 ('broker', 'I@roles:broker or I@roles:all-in-one'),
                 ('monitoring', '*'),
                 ('devstack', 'I@roles:devstack or I@roles:all-in-one')] %}
{%- for role, target in steps %}

{{ role }}-nodes:
  salt.state:
    - tgt: '{{ target }}'
    - tgt_type: compound
    - sls: {{ role }}
    - failhard: True
    - require:
      - salt: {{ 'publish-addresses' if loop.first else steps[loop.index0 - 1][0] ~ '-nodes' }}
{%- endfor %}
