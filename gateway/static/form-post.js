// OAuth 2.0 Form Post Response Mode: submit the response to the client at once
// (gateway/templates/form_post.html; without JavaScript its button does it).
document.getElementById("form-post-response").submit();
