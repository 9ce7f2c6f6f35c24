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

# A static library of the C++ generated from one .proto file (path relative to
# the calling folder), found by its name in the build tree: PROTO_PATH.pb.h.
function(allot_proto_library target proto)
  get_filename_component(dir ${CMAKE_CURRENT_SOURCE_DIR}/${proto} DIRECTORY)
  add_library(${target} STATIC ${proto})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
  protobuf_generate(TARGET ${target} LANGUAGE cpp IMPORT_DIRS ${dir}
                    PROTOC_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
endfunction()
