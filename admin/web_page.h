// The admin web page (admin/web/index.html and admin/web/app.js), embedded in
// the binary at build time (admin/web/embed.py generates web_page.cc). Served
// by AdminApi at GET /admin/ and GET /admin/app.js without a token: the page
// asks for the admin token, keeps it in memory only, and sends it as a bearer
// token with each API call.
#pragma once

#include <string_view>

namespace portcullis::admin {

std::string_view web_index_html();
std::string_view web_app_js();

}  // namespace portcullis::admin
