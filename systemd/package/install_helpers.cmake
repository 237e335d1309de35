# SPDX-License-Identifier: Apache-2.0
# Helpers run at install time (cmake --install, cpack), included by the
# install(CODE) rules in systemd/package/CMakeLists.txt. DESTDIR is honoured:
# file(INSTALL) prepends it itself; existence checks prepend it by hand.

# Installs a configuration file unless one is already there: an operator's
# edited /etc/jobwatchd/jobwatchd.yaml must survive a re-install. (The .deb
# marks the same files as conffiles, so dpkg asks instead.)
function(jobwatch_install_config_file source destination_dir)
  cmake_parse_arguments(ARG "EXECUTABLE" "" "" ${ARGN})
  get_filename_component(name "${source}" NAME)
  set(target "$ENV{DESTDIR}${destination_dir}/${name}")
  if(EXISTS "${target}" OR IS_SYMLINK "${target}")
    message(STATUS "Keeping: ${target} (exists; not overwritten - compare with ${source})")
    return()
  endif()
  set(permissions OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  if(ARG_EXECUTABLE)
    list(APPEND permissions OWNER_EXECUTE GROUP_EXECUTE WORLD_EXECUTE)
  endif()
  file(INSTALL DESTINATION "${destination_dir}" TYPE FILE PERMISSIONS ${permissions}
       FILES "${source}")
endfunction()

# Installs the systemd unit with ExecStart= pointing at the installed
# binary: /usr/sbin/jobwatchd in the .deb (prefix /usr, unit in
# /lib/systemd/system as Debian 12 wants), <prefix>/sbin/jobwatchd and
# <prefix>/lib/systemd/system otherwise (systemd also reads
# /usr/local/lib/systemd/system).
function(jobwatch_install_unit source scratch_dir)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(unit_dir "/lib/systemd/system")
  else()
    set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
  file(READ "${source}" unit)
  string(REPLACE "/usr/sbin/jobwatchd" "${CMAKE_INSTALL_PREFIX}/sbin/jobwatchd" unit "${unit}")
  get_filename_component(name "${source}" NAME)
  file(WRITE "${scratch_dir}/${name}" "${unit}")
  file(INSTALL DESTINATION "${unit_dir}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${scratch_dir}/${name}")
endfunction()
