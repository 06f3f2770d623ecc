#!/usr/bin/env Rscript
# Expected EARS C1, C2 and C3 for src/indicators/ears.rs, from R's surveillance package.
#
#   apt-get install r-cran-surveillance     # surveillance 1.20.3, R 4.x (Debian)
#   Rscript src/indicators/reference/ears.R # rewrites ears.json beside it
#   Rscript src/indicators/reference/ears.R OUT.json   # writes elsewhere (CI)
#
# Our rule feeds a suppressed baseline period in as c = (k - 1)/2 = 2 and leaves the
# periods before the reporting start out. So each series here is given to earsC exactly
# as our baselines read it: "-" (suppressed) becomes 2, and the series starts at the
# reporting start ("x" periods are dropped). earsC(method = "C1"/"C2", baseline = 7,
# minSigma = 0.5) returns upperbound = mean + z(1 - alpha) * max(sd, 0.5) (sd with
# divisor n - 1; see print(body(surveillance::earsC))); it is run with two alphas, which
# gives both the mean and max(sd, 0.5), hence C = (y - mean) / max(sd, 0.5). C3 is summed
# here from those C2 values as CDC defines it, over t - 2 .. t: surveillance's own C3
# alarm leaves out the current period. Our statistics at a suppressed period are null
# (no count to test), so R's values there, computed from c, are not written, nor a C3
# that would need one.
suppressWarnings(suppressMessages(library(surveillance)))

cases <- list(
  sparse_rise = "0 - 0 0 - - 0 - 0 0 - 0 - - 0 0 - 0 8 8 12 8 10",
  late_start  = "x x x x 6 9 7 - 8 11 6 7 9 10 - 8 12 7 9 15 18 14",
  ordinary    = "12 15 11 14 16 13 17 - 18 16 14 17 22 25 21 - 27 23 26 29 28 31"
)

statistic <- function(y, method) {
  sts <- sts(observed = matrix(y, ncol = 1), frequency = 52, start = c(2025, 1))
  run <- function(alpha) {
    out <- earsC(sts, control = list(method = method, baseline = 7, minSigma = 0.5, alpha = alpha))
    as.vector(upperbound(out))
  }
  z <- qnorm(1 - c(0.001, 0.1))
  u1 <- run(0.001)
  u2 <- run(0.1)
  s <- (u1 - u2) / (z[1] - z[2])
  m <- u1 - z[1] * s
  first <- length(y) - length(u1) + 1
  c <- rep(NA, length(y))
  c[first:length(y)] <- (y[first:length(y)] - m) / s
  c
}

number <- function(v) ifelse(is.na(v), "null", sprintf("%.17g", v))

json <- c()
for (name in names(cases)) {
  tokens <- strsplit(cases[[name]], " ")[[1]]
  reported <- tokens[tokens != "x"]
  offset <- sum(tokens == "x")
  y <- as.numeric(ifelse(reported == "-", "2", reported))
  c1 <- statistic(y, "C1")
  c2 <- statistic(y, "C2")
  # No statistic at a suppressed period (no count to test), so no C3 that needs one.
  suppressed <- reported == "-"
  c1[suppressed] <- NA; c2[suppressed] <- NA
  c3 <- rep(NA, length(y))
  for (t in 3:length(y)) {
    if (all(!is.na(c2[(t - 2):t]))) c3[t] <- sum(pmax(0, c2[(t - 2):t] - 1))
  }
  pad <- function(v) c(rep(NA, offset), v)
  json <- c(json, sprintf(
    '{"name": "%s", "series": "%s", "c1": [%s], "c2": [%s], "c3": [%s]}',
    name, cases[[name]],
    paste(number(pad(c1)), collapse = ", "), paste(number(pad(c2)), collapse = ", "),
    paste(number(pad(c3)), collapse = ", ")))
}
given <- commandArgs(trailingOnly = TRUE)
out <- if (length(given) > 0) given[1] else file.path(dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))), "ears.json")
writeLines(c("[", paste(json, collapse = ",\n"), "]"), out)
cat("wrote", length(json), "cases to", out, "\n")
