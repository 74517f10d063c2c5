# RabbitMQ from the distribution: its listeners and Erlang distribution from the broker pillar,
# the Erlang cookie (0400), running. The file contents come from the message_broker module
# (rendered from data, never templated here).
{%- set cookie = salt['pillar.get']('broker:erlang_cookie') %}
{#- bin/configure's one decision (topology.systemd): systemd runs services here unless its module is disabled. #}
{%- set systemd = salt['topology.systemd']() %}
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

{%- if systemd %}

# systemd opens epmd's port itself (epmd.socket, every address); ERL_EPMD_ADDRESS has no effect
# there. The node and epmd stop before the socket moves to loopback, and start again after.
broker-epmd-socket:
  file.managed:
    - name: /etc/systemd/system/epmd.socket.d/devstack-salt.conf
    - contents: {{ salt['message_broker.render']('epmd.socket') | json }}
    - makedirs: True
    - mode: '0644'
    - require:
      - pkg: broker-package

broker-stop-for-epmd:
  service.dead:
    - names: [rabbitmq-server, epmd.service]
    - prereq:
      - file: broker-epmd-socket

# systemd reads the drop-in only on a reload, and a socket restarted before it keeps its old
# listener.
broker-epmd-daemon-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: broker-epmd-socket

broker-epmd-socket-service:
  service.running:
    - name: epmd.socket
    - enable: True
    - require:
      - cmd: broker-epmd-daemon-reload
    - watch:
      - file: broker-epmd-socket

broker-stop-for-cookie:
  service.dead:
    - name: rabbitmq-server
    - prereq:
      - file: broker-cookie
{%- else %}

# Debian's init script stops (and restarts) the node with `rabbitmqctl stop <pid file>`, which
# waits forever when the file is missing; it must name the running node before any stop.
# (systemd tracks the node itself: the file does not matter there.)
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
{%- endif %}

# Started through systemd (and enabled at boot) where it runs, through the init.d script
# elsewhere (bin/configure); restarted when a listener, the node's environment or the cookie
# changes.
broker-service:
  service.running:
    - name: rabbitmq-server
{%- if systemd %}
    - enable: True
{%- endif %}
    - require:
      - pkg: broker-package
{%- if systemd %}
      - service: broker-epmd-socket-service
{%- else %}
      - message_broker: broker-pid-file
{%- endif %}
    - watch:
      - file: broker-env-conf
      - file: broker-conf
      - file: broker-cookie
{%- endif %}
