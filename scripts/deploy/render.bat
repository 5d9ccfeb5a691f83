@echo off
rem Render the manifests Argo CD applies, e.g. render.bat --env prod --out rendered
rem Windows twin of scripts/deploy/render.sh: runs `shopfloor render` from the repository's .venv
rem (.venv\Scripts\shopfloor.exe), else shopfloor on PATH. Every argument is passed through.
setlocal
for %%I in ("%~dp0..\..") do set "REPO_ROOT=%%~fI"
if defined SHOPFLOOR_REPO set "REPO_ROOT=%SHOPFLOOR_REPO%"
set "SHOPFLOOR=%~dp0..\..\.venv\Scripts\shopfloor.exe"
if not exist "%SHOPFLOOR%" set "SHOPFLOOR=shopfloor"
"%SHOPFLOOR%" --repo "%REPO_ROOT%" render %*
exit /b %ERRORLEVEL%
