# RabbitMQ from the distribution: its listeners and Erlang distribution from the broker pillar,
# the Erlang cookie (0400), running. The file contents come from the message_broker module
# (rendered from data, never templated here).
{%- set cookie = salt['pillar.get']('broker:erlang_cookie') %}
include:
  - broker.pillar
{#- With an invalid pillar only the gate runs (and fails, naming each problem). #}
{%- if salt['message_broker.validate']()['valid'] %}

broker-package:
  pkg.installed:
    - name: rabbitmq-server
    - require:
      - message_broker: broker-pillar

broker-env-conf:
  file.managed:
    - name: /etc/rabbitmq/rabbitmq-env.conf
    - contents: {{ salt['message_broker.render']('rabbitmq-env.conf') | json }}
    - user: root
    - group: rabbitmq
    - mode: '0644'
    - require:
      - pkg: broker-package

broker-conf:
  file.managed:
    - name: /etc/rabbitmq/rabbitmq.conf
    - contents: {{ salt['message_broker.render']('rabbitmq.conf') | json }}
    - user: root
    - group: rabbitmq
    - mode: '0644'
    - require:
      - pkg: broker-package

# The node and the CLI tools authenticate to each other with this cookie. A new cookie cannot
# stop a node started with the old one, so the node is stopped first (prereq) when it changes.
broker-cookie:
  file.managed:
    - name: /var/lib/rabbitmq/.erlang.cookie
{%- if cookie %}
    - contents_pillar: broker:erlang_cookie
    - contents_newline: False     # the cookie and nothing else
{%- else %}
    - replace: False
{%- endif %}
    - user: rabbitmq
    - group: rabbitmq
    - mode: '0400'
    - show_changes: False
    - require:
      - pkg: broker-package

# Debian's init script stops (and restarts) the node with `rabbitmqctl stop <pid file>`, which
# waits forever when the file is missing; it must name the running node before any stop.
broker-pid-file:
  message_broker.pid_file:
    - name: /var/run/rabbitmq/pid
    - require:
      - pkg: broker-package

broker-stop-for-cookie:
  service.dead:
    - name: rabbitmq-server
    - prereq:
      - file: broker-cookie
    - require:
      - message_broker: broker-pid-file

# Started through systemd where it runs, through the init.d script elsewhere (bin/configure);
# restarted when a listener, the node's environment or the cookie changes.
broker-service:
  service.running:
    - name: rabbitmq-server
    - require:
      - pkg: broker-package
      - message_broker: broker-pid-file
    - watch:
      - file: broker-env-conf
      - file: broker-conf
      - file: broker-cookie
{%- endif %}
