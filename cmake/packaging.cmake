# Install rules and the Debian package (`cpack -G DEB` in the build dir, or
# ./dev.sh package): binaries, systemd units, an example config that is a conffile,
# the docs, and maintainer scripts that create the fac-worker user and its spool.
# The package installs and registers the units but starts nothing: an operator edits
# /etc/fac-worker/fac.json first (README "Install on a bench host").

install(TARGETS fac-worker fac-scheduler fac-ctl RUNTIME DESTINATION bin)

# Debian 12 keeps packaged units in /lib (merged /usr makes it the same directory).
install(FILES deploy/systemd/fac-worker.service deploy/systemd/fac-worker@.service
              deploy/systemd/fac-scheduler.service
        DESTINATION /lib/systemd/system)

# 0640: a config may hold secrets; postinst gives it to group fac-worker.
install(FILES deploy/examples/fac.json DESTINATION /etc/fac-worker
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

install(FILES README.md deploy/debian/copyright DESTINATION share/doc/fac-worker)
# Under docs/ so that the README's links resolve in the installed copy too.
install(DIRECTORY docs/ DESTINATION share/doc/fac-worker/docs FILES_MATCHING PATTERN "*.md")
# The Grafana dashboard, when the tree has one (checked at install time).
install(DIRECTORY deploy/grafana/ DESTINATION share/fac-worker/grafana OPTIONAL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME fac-worker)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "background job worker pool for Frappe Assistant Core")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "fac-worker runs Frappe Assistant Core tool calls as background jobs: a prefork\n\
pool of small C workers takes tool jobs from Redis, runs each under its own\n\
timeout and limits, stores the result and writes an audit row before it\n\
acknowledges the job. fac-scheduler handles delayed jobs, retries and cron;\n\
fac-ctl enqueues jobs and inspects queues.")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "fac-worker maintainers <maintainers@users.noreply.r-seed-93002a73.example>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
# Shared-library dependencies are computed by dpkg-shlibdeps; postinst needs adduser.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# A bench's redis_queue runs on Debian's redis-server; the MariaDB audit needs a server.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "redis-server")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mariadb-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
