// Tables in and out for coach's command-line tools: CSV files read with the
// line number of every row (RFC 4180 quoting), and rows printed as CSV or as
// a JSON array of objects.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "base/result.h"

namespace coach::apps {

struct CsvRow {
  size_t line = 0;  // 1-based line of the file where the row starts
  std::vector<std::string> cells;
};

struct CsvFile {
  std::vector<std::string> header;
  std::vector<CsvRow> rows;
  // Index of a header column, or -1.
  int column(std::string_view name) const;
};

// Reads a CSV file with a header line (RFC 4180: quoted cells with "" for a
// quote, LF or CRLF line ends; blank lines and a UTF-8 byte order mark are
// passed over). not_found when it cannot be read; invalid_argument
// "PATH: line N: a quote is never closed" for an unterminated quote.
Result<CsvFile> read_csv(const std::string& path);

enum class TableFormat { csv, json };

// Prints rows under a fixed header. In JSON, cells of numeric columns are
// written as numbers (an empty cell as null), the others as strings.
class TablePrinter {
 public:
  TablePrinter(std::FILE* out, TableFormat format, std::vector<std::string> columns,
               std::vector<bool> numeric);
  ~TablePrinter();  // closes the JSON array
  void row(const std::vector<std::string>& cells);

 private:
  std::FILE* out_;
  TableFormat format_;
  std::vector<std::string> columns_;
  std::vector<bool> numeric_;
  size_t rows_ = 0;
};

// A double with enough digits to read back, no trailing noise.
std::string number(double v);

}  // namespace coach::apps
