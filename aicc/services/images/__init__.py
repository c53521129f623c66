"""Images: the center registry's repositories, tags and storage per project, and AICC as the
registry's token server (Distribution's token authentication). The registry stores the bytes;
this context decides who may pull and push what, and counts what each project holds."""
