# Writes OUT, a header defining ALLOT_CODE_VERSION as VERSION+<git describe>,
# at every build, and touches it only when the text changes: the version in
# result files then names the commit actually built (a version taken at
# configure time went stale in incremental builds).
#   cmake -DSOURCE_DIR=... -DVERSION=... -DOUT=... -P CodeVersion.cmake
execute_process(COMMAND git describe --always --dirty --abbrev=10
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT describe)
  set(describe "nogit")
endif()
set(text "#pragma once\n#define ALLOT_CODE_VERSION \"${VERSION}+${describe}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
