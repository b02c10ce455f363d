# Run at every build (cmake -P): writes build_version.cc from the project version and
# `git describe`; configure_file leaves the file untouched when nothing changed, so nothing recompiles.
execute_process(COMMAND git describe --tags --always --dirty
                WORKING_DIRECTORY "${SOURCE_DIR}"
                OUTPUT_VARIABLE PROBESNAT_GIT_DESCRIPTION
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE git_result)
if(NOT git_result EQUAL 0)
  set(PROBESNAT_GIT_DESCRIPTION "")
endif()
if(PROBESNAT_GIT_DESCRIPTION STREQUAL "")
  set(PROBESNAT_BUILD_VERSION "${PROJECT_VERSION}")
else()
  set(PROBESNAT_BUILD_VERSION "${PROJECT_VERSION} (git ${PROBESNAT_GIT_DESCRIPTION})")
endif()
configure_file("${INPUT}" "${OUTPUT}" @ONLY)
