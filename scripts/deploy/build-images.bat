@echo off
rem Build (and with --push push) the service images, e.g. build-images.bat --engine docker --repository-prefix REGISTRY/shopfloor --tag SHA --push
rem Windows twin of scripts/deploy/build-images.sh: runs `shopfloor images build` from the repository's .venv
rem (.venv\Scripts\shopfloor.exe), else shopfloor on PATH. Every argument is passed through.
setlocal
for %%I in ("%~dp0..\..") do set "REPO_ROOT=%%~fI"
if defined SHOPFLOOR_REPO set "REPO_ROOT=%SHOPFLOOR_REPO%"
set "SHOPFLOOR=%~dp0..\..\.venv\Scripts\shopfloor.exe"
if not exist "%SHOPFLOOR%" set "SHOPFLOOR=shopfloor"
"%SHOPFLOOR%" --repo "%REPO_ROOT%" images build %*
exit /b %ERRORLEVEL%
