#include "apps/common/table.h"

#include <fmt/core.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "wire/api_codec.h"

namespace coach::apps {
namespace {

std::string csv_cell(const std::string& cell) {
  if (cell.find_first_of(",\"\n\r") == std::string::npos) return cell;
  std::string out = "\"";
  for (char c : cell) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

int CsvFile::column(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

Result<CsvFile> read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a UTF-8 byte order mark
  CsvFile file;
  std::vector<std::string> cells;
  std::string cell;
  size_t line = 1, row_line = 1;
  bool quoted = false, any = false;
  auto end_row = [&] {
    cells.push_back(std::move(cell));
    cell.clear();
    bool blank = cells.size() == 1 && cells[0].empty();
    if (!blank) {
      if (file.header.empty() && file.rows.empty() && row_line == 1)
        file.header = std::move(cells);
      else
        file.rows.push_back({row_line, std::move(cells)});
    }
    cells.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        cell += c;
      }
      continue;
    }
    if (c == '"' && cell.empty()) {
      quoted = any = true;
    } else if (c == ',') {
      cells.push_back(std::move(cell));
      cell.clear();
      any = true;
    } else if (c == '\n') {
      if (!cell.empty() && cell.back() == '\r') cell.pop_back();
      end_row();
      row_line = ++line;
    } else {
      cell += c;
      any = true;
    }
  }
  if (quoted)
    return make_error(Errc::invalid_argument,
                      path + ": line " + std::to_string(row_line) + ": a quote is never closed");
  if (any || !cell.empty()) end_row();
  if (file.header.empty()) return make_error(Errc::invalid_argument, path + " has no header line");
  return file;
}

TablePrinter::TablePrinter(std::FILE* out, TableFormat format, std::vector<std::string> columns,
                           std::vector<bool> numeric)
    : out_(out), format_(format), columns_(std::move(columns)), numeric_(std::move(numeric)) {
  numeric_.resize(columns_.size(), false);
  if (format_ == TableFormat::csv) {
    for (size_t i = 0; i < columns_.size(); ++i)
      fmt::print(out_, "{}{}", i ? "," : "", csv_cell(columns_[i]));
    fmt::print(out_, "\n");
  } else {
    fmt::print(out_, "[");
  }
}

TablePrinter::~TablePrinter() {
  if (format_ == TableFormat::json) fmt::print(out_, "{}]\n", rows_ ? "\n" : "");
  std::fflush(out_);
}

void TablePrinter::row(const std::vector<std::string>& cells) {
  if (format_ == TableFormat::csv) {
    for (size_t i = 0; i < columns_.size(); ++i)
      fmt::print(out_, "{}{}", i ? "," : "", i < cells.size() ? csv_cell(cells[i]) : "");
    fmt::print(out_, "\n");
  } else {
    fmt::print(out_, "{}\n  {{", rows_ ? "," : "");
    for (size_t i = 0; i < columns_.size(); ++i) {
      const std::string& v = i < cells.size() ? cells[i] : std::string();
      fmt::print(out_, "{}{}: {}", i ? ", " : "", actors::json_quote(columns_[i]),
                 numeric_[i] ? (v.empty() ? "null" : v) : actors::json_quote(v));
    }
    fmt::print(out_, "}}");
  }
  ++rows_;
}

std::string number(double v) {
  return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string();
}

}  // namespace coach::apps
