/*
 * status.c - names for status codes, severities and confidences.
 */
#include "keysift.h"

#include <strings.h>

const char *ks_status_str(ks_status status)
{
    switch (status) {
    case KS_OK:             return "ok";
    case KS_STOPPED:        return "stopped by the caller";
    case KS_ERR_NOMEM:      return "out of memory";
    case KS_ERR_ARG:        return "invalid argument";
    case KS_ERR_IO:         return "cannot read input";
    case KS_ERR_NOT_FOUND:  return "no such file or directory";
    case KS_ERR_RULE:       return "invalid rule";
    case KS_ERR_COMPILE:    return "rules could not be compiled";
    case KS_ERR_ARCHIVE:    return "archive is corrupt or truncated";
    case KS_ERR_MATCHER:    return "pattern matcher failed";
    case KS_ERR_THREAD:     return "cannot start worker thread";
    case KS_WARN_SKIPPED:   return "skipped";
    case KS_WARN_LIMIT:     return "input limit reached";
    case KS_ERR_STATE:      return "call not valid in this state";
    }
    return "unknown status";
}

static const char *const severity_names[] = {
    "info", "low", "medium", "high", "critical",
};

static const char *const confidence_names[] = {
    "low", "medium", "high",
};

const char *ks_severity_str(ks_severity severity)
{
    if ((unsigned)severity > KS_SEV_CRITICAL)
        return "unknown";
    return severity_names[severity];
}

const char *ks_confidence_str(ks_confidence confidence)
{
    if ((unsigned)confidence > KS_CONF_HIGH)
        return "unknown";
    return confidence_names[confidence];
}

int ks_severity_parse(const char *name, ks_severity *out)
{
    for (unsigned i = 0; i <= KS_SEV_CRITICAL; i++) {
        if (strcasecmp(name, severity_names[i]) == 0) {
            *out = (ks_severity)i;
            return 0;
        }
    }
    return -1;
}
