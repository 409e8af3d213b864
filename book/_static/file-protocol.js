// Opened as files (file://), the browser refuses the fetch() with which Sphinx's search page loads the
// summary of each result (and logs an error per result); there the results list their titles only.
if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
  DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
}
