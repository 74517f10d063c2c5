# MariaDB from the distribution, its [mysqld] options from database:server, running.
include:
  - database.pillar

database-server-package:
  pkg.installed:
    - name: mariadb-server
    - require:
      - database_server: database-pillar

database-server-config:
  database_server.config:
    - name: /etc/mysql/mariadb.conf.d/99-salt.cnf
    - pillar_key: database
    - require:
      - pkg: database-server-package

{%- if salt['topology.systemd']() %}
# Debian's package enables mariadb.socket: from the next boot systemd listens on port 3306 of
# every address (its ListenStream) and hands that socket to mariadbd, whatever bind-address says.
# The role's server listens where database:server says only: the socket unit is stopped,
# disabled and masked (a package upgrade cannot turn it on again). When that changed anything
# (on a new node: the package's enabled socket) the server restarts, so that it holds no
# listener the socket handed it.
database-server-socket:
  service.dead:
    - name: mariadb.socket
    - enable: False
    - require:
      - pkg: database-server-package

database-server-socket-masked:
  service.masked:
    - name: mariadb.socket
    - require:
      - service: database-server-socket
{%- endif %}

# Started through systemd where it runs, through the init.d script elsewhere (bin/configure);
# restarted when the options change.
database-server-service:
  service.running:
    - name: mariadb
{%- if salt['topology.systemd']() %}
    - enable: True            # at boot, on systemd hosts
{%- endif %}
    - require:
      - pkg: database-server-package
{%- if salt['topology.systemd']() %}
      - service: database-server-socket-masked
{%- endif %}
    - watch:
      - database_server: database-server-config
{%- if salt['topology.systemd']() %}
      - service: database-server-socket
{%- endif %}
