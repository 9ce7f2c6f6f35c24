#pragma once

#include <string_view>

namespace allot::runtime::master {

// The web UI's files (runtime/src/master/ui/), built into the master so that
// it serves them with no files to install: /, /ui/app.js, /ui/style.css.
extern const std::string_view kUiIndexHtml;
extern const std::string_view kUiAppJs;
extern const std::string_view kUiStyleCss;

}  // namespace allot::runtime::master
