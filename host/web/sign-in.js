// The sign-in page needs no script to work; this only keeps the key field
// focused after an error, for keyboard users.
const field = document.getElementById("key");
if (field && document.getElementById("sign-in-error")) field.focus();
document.documentElement.dataset.ready = "true";
