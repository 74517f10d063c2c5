# The DevStack node role: the stack user, the directory DevStack lives in, and local.conf
# written from the devstack pillar by this project's devstack.local_conf state.
{%- set ds = salt['pillar.get']('devstack', {}) %}
{%- set user = ds.get('user', 'stack') %}
{%- set dest = ds.get('dest', '/opt/stack') %}
{%- set local_conf = ds.get('local_conf', dest ~ '/devstack/local.conf') %}

devstack-stack-user:
  user.present:
    - name: {{ user }}
    - home: {{ dest }}
    - shell: /bin/bash
    - usergroup: True

devstack-dest:
  file.directory:
    - name: {{ dest }}
    - user: {{ user }}
    - group: {{ user }}
    - mode: '0755'
    - require:
      - user: devstack-stack-user

devstack-local-conf-dir:
  file.directory:
    - name: {{ salt['file.dirname'](local_conf) }}
    - user: {{ user }}
    - group: {{ user }}
    - mode: '0755'
    - makedirs: True
    - require:
      - file: devstack-dest

devstack-local-conf:
  devstack.local_conf:
    - name: {{ local_conf }}
    - user: {{ user }}
    - mode: '0600'
    - require:
      - file: devstack-local-conf-dir
