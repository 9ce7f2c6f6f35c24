# Compiler flags shared by every allot target, attached through one interface target.
add_library(allot_options INTERFACE)
add_library(allot::options ALIAS allot_options)
target_compile_options(allot_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion -Wimplicit-fallthrough)
if(ALLOT_WERROR)
  target_compile_options(allot_options INTERFACE -Werror)
endif()
if(ALLOT_SANITIZE)
  target_compile_options(allot_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                 -fno-sanitize-recover=undefined)
  target_link_options(allot_options INTERFACE -fsanitize=address,undefined)
endif()

# Declares a library target for one folder: allot_<name> with alias allot::<name>.
function(allot_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(allot_${name} ${ARG_SOURCES})
  add_library(allot::${name} ALIAS allot_${name})
  set_target_properties(allot_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(allot_${name} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                                            PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(allot_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE allot::options ${ARG_PRIVATE_DEPS})
endfunction()
