#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed wrapper per argument kind.
static inline CURLcode studysync_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode studysync_curl_setopt_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode studysync_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*studysync_curl_write_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode studysync_curl_setopt_write(CURL *handle, CURLoption option, studysync_curl_write_callback value) {
    return curl_easy_setopt(handle, option, value);
}
typedef int (*studysync_curl_progress_callback)(void *context, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static inline CURLcode studysync_curl_setopt_progress(CURL *handle, CURLoption option, studysync_curl_progress_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode studysync_curl_response_code(CURL *handle, long *code) {
    return curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, code);
}
