# The DevStack node role: the stack user with passwordless sudo, the DevStack checkout at the
# pinned ref, local.conf from the devstack pillar, and stack.sh run only when needed.
# With devstack:stack false (the default pillar) nothing is cloned and stack.sh does not run;
# the devstack-stacked state says so in its comment.
{#- The gate first: devstack.validate (the same checks as every devstack function) decides; with
    an invalid pillar the states below render from defaults and none runs (require_in). #}
{%- set check = salt['devstack.validate']() %}
{%- set ds = salt['pillar.get']('devstack', {}) if check['valid'] else {} %}
{#- A key set to null means its default, as in devstack.validate. #}
{%- set user = ds.get('user') or 'stack' %}
{%- set dest = ds.get('dest') or '/opt/stack' %}
{%- set devstack_dir = dest.rstrip('/') ~ '/devstack' %}
{%- set local_conf = ds.get('local_conf') or devstack_dir ~ '/local.conf' %}
{%- set stacking = ds.get('stack') or False %}
{%- set checkout = stacking if ds.get('checkout') is none else ds.get('checkout') %}
{#- A node whose database is the database role's (here or on another node): stack.sh creates its
    databases with the mysql client, which DevStack installs only with its own mysql service. #}
{%- set database_client = ds.get('database') not in (none, false) %}

# The gate: an invalid devstack pillar (each error named by its pillar path) changes nothing.
devstack-pillar:
  devstack.valid:
    - pillar_key: devstack
    - require_in:
      - pkg: devstack-packages
      - user: devstack-stack-user

devstack-packages:
  pkg.installed:
    - pkgs: [git, sudo{{ ', mariadb-client' if database_client else '' }}]

devstack-stack-user:
  user.present:
    - name: {{ user }}
    - home: {{ dest }}
    - shell: /bin/bash
    - usergroup: True

# DevStack runs as this user and calls sudo for everything it installs.
devstack-sudoers:
  file.managed:
    - name: /etc/sudoers.d/devstack-{{ user }}
    - contents: "{{ user }} ALL=(root) NOPASSWD:ALL\n"
    - user: root
    - group: root
    - mode: '0440'
    - check_cmd: /usr/sbin/visudo -c -f
    - require:
      - pkg: devstack-packages
      - user: devstack-stack-user

# Not readable by others: stack.sh runs with umask 022 and traces every command, so its logs
# ($DEST/logs, $DEST/async), .localrc.auto and .stackenv carry the passwords with mode 0644.
# stack.sh keeps the mode of a DEST that exists. (Keystone and Swift run as the stack user;
# Horizon's Apache would need the stack group.)
devstack-dest:
  file.directory:
    - name: {{ dest }}
    - user: {{ user }}
    - group: {{ user }}
    - mode: '0750'
    - require:
      - user: devstack-stack-user

# git refuses to clone from a repository another user owns ("dubious ownership"), and the
# checkout and every clone of stack.sh run as the stack user: it trusts exactly the local
# repositories the pillar names (a file:// repo, GIT_BASE's repositories, plugins), never '*'.
devstack-trusted-repositories:
  devstack.repositories_trusted:
    - name: {{ user }}
    - require:
      - file: devstack-dest
      - pkg: devstack-packages
{%- if checkout %}

# force_clone: a directory left by an earlier apply without checkout (holding only local.conf)
# is replaced by the clone; local.conf is written again right after.
devstack-checkout:
  git.latest:
    - name: {{ ds.get('repo', 'https://opendev.org/openstack/devstack') }}
    - target: {{ devstack_dir }}
    - rev: {{ ds.get('ref', 'stable/2026.1') }}
    - user: {{ user }}
    - force_clone: True
    - force_reset: True
    - require:
      - file: devstack-dest
      - pkg: devstack-packages
      - devstack: devstack-trusted-repositories
{%- endif %}

devstack-local-conf-dir:
  file.directory:
    - name: {{ salt['file.dirname'](local_conf) }}
    - user: {{ user }}
    - group: {{ user }}
    - mode: '0755'
    - makedirs: True
    - require:
      - file: devstack-dest
{%- if checkout %}
      - git: devstack-checkout
{%- endif %}

devstack-local-conf:
  devstack.local_conf:
    - name: {{ local_conf }}
    - user: {{ user }}
    - mode: '0600'
    - require:
      - file: devstack-local-conf-dir

devstack-stacked:
  devstack.stacked:
    - name: {{ devstack_dir }}
    - require:
      - devstack: devstack-local-conf
      - file: devstack-sudoers
      - devstack: devstack-trusted-repositories
